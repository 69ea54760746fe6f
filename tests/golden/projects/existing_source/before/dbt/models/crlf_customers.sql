select *
from {{ ref('raw_customers') }}
where id > 0
