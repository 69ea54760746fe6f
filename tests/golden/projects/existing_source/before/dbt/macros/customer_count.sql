{% macro customer_count() %}(select count(*) from {{ ref('raw_customers') }}){% endmacro %}
