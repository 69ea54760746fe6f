select * from {{ source('jaffle', 'raw_a') }} join {{ source('jaffle', 'raw_b') }} using (id)
