-- mlops-dash: the forecast_vs_actual view (PostgreSQL) behind the Business KPI Impact panel,
-- the evaluation job and the actuals job. Reads the tables of example_schema.sql.
--
-- One row per model version, day, store and product whose actual sales have arrived:
--   sale_date               timestamptz, midnight UTC of the sale day ($__timeFilter(sale_date))
--   model, version          the forecasting model version ($model)
--   forecast_units, actual_units, abs_error_units
--   forecast_revenue        forecast units at the selling price
--   actual_revenue          units sold at the selling price
--   lost_revenue            under-forecast: demand above the stock ordered from the forecast
--   excess_inventory_units  over-forecast: stock ordered and not sold that day
--   excess_inventory_cost   those units at their cost
CREATE OR REPLACE VIEW forecast_vs_actual AS
SELECT
    (s.sale_date::timestamp AT TIME ZONE 'UTC')                          AS sale_date,
    f.model,
    f.version,
    s.store_id,
    s.product_id,
    f.forecast_units::double precision                                   AS forecast_units,
    s.units::double precision                                            AS actual_units,
    abs(f.forecast_units - s.units)::double precision                    AS abs_error_units,
    (f.forecast_units * s.unit_price)::double precision                  AS forecast_revenue,
    (s.units * s.unit_price)::double precision                           AS actual_revenue,
    (greatest(s.units - f.forecast_units, 0) * s.unit_price)::double precision
                                                                         AS lost_revenue,
    greatest(f.forecast_units - s.units, 0)::double precision            AS excess_inventory_units,
    (greatest(f.forecast_units - s.units, 0) * s.unit_cost)::double precision
                                                                         AS excess_inventory_cost
FROM forecasts AS f
JOIN sales AS s
  ON s.sale_date = f.forecast_date
 AND s.store_id = f.store_id
 AND s.product_id = f.product_id;
