select * from {{ ref('raw_a') }} join {{ ref('raw_b') }} using (id)
