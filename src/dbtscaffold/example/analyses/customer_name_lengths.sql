-- Ad hoc analysis: how long are customer names in the raw export?
-- Compile with `dbt compile` and run the SQL from target/compiled by hand.

select
    length(first_name) + length(last_name) as full_name_length,
    count(*) as customers

from {{ ref('raw_customers') }}

group by 1

order by 1
