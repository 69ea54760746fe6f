select signup_date, count(*) from {{ ref('raw_customers') }} group by 1
