-- TPC-H Q11: important stock identification (NATION = GERMANY, FRACTION = 0.0001 / SF;
-- the runner substitutes {fraction} for the scale factor in use).
-- (The value column is named part_value: VALUE is a reserved word in Calcite.)
select
    ps_partkey,
    sum(ps_supplycost * ps_availqty) as part_value
from partsupp, supplier, nation
where ps_suppkey = s_suppkey
    and s_nationkey = n_nationkey
    and n_name = 'GERMANY'
group by ps_partkey
having sum(ps_supplycost * ps_availqty) > (
    select sum(ps_supplycost * ps_availqty) * {fraction}
    from partsupp, supplier, nation
    where ps_suppkey = s_suppkey
        and s_nationkey = n_nationkey
        and n_name = 'GERMANY'
)
order by part_value desc
