select * from {{ source('shop', 'raw_customers') }} where id is null
