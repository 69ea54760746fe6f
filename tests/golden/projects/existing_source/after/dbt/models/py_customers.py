def model(dbt, session):
    return dbt.source("shop", "raw_customers")
