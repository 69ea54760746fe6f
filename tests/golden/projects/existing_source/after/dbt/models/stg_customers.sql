{# built on {{ ref('raw_customers') }}; this comment stays as it is #}
select * from {{ source('shop', 'raw_customers') }}
union all
select * from {{source("shop", "raw_customers")}}
union all
select * from {{ source('shop', 'raw_customers') }}
