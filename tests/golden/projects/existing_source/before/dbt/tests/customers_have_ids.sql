select * from {{ ref('raw_customers') }} where id is null
