{% macro customer_count() %}(select count(*) from {{ source('shop', 'raw_customers') }}){% endmacro %}
