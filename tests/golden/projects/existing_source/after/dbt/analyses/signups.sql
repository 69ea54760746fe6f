select signup_date, count(*) from {{ source('shop', 'raw_customers') }} group by 1
