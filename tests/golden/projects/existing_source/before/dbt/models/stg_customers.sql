{# built on {{ ref('raw_customers') }}; this comment stays as it is #}
select * from {{ ref('raw_customers') }}
union all
select * from {{ref("raw_customers")}}
union all
select * from {{ ref( 'shop' , 'raw_customers' ) }}
