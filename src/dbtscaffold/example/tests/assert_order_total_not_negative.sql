-- An order's total paid amount can never be negative.
-- Returns the offending orders; the test passes when no rows come back.

select
    order_id,
    amount

from {{ ref('orders') }}

where amount < 0
