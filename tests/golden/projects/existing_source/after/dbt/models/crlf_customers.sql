select *
from {{ source('shop', 'raw_customers') }}
where id > 0
