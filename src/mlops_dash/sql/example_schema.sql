-- mlops-dash: example business-warehouse schema (PostgreSQL) that forecast_vs_actual.sql reads.
-- Adapt the names to your warehouse; the view's columns are what the dashboards and jobs use.

-- One row per day, store and product: what was actually sold.
CREATE TABLE IF NOT EXISTS sales (
    sale_date   date           NOT NULL,
    store_id    text           NOT NULL,
    product_id  text           NOT NULL,
    units       numeric(14, 3) NOT NULL CHECK (units >= 0),
    unit_price  numeric(14, 4) NOT NULL CHECK (unit_price >= 0),  -- selling price
    unit_cost   numeric(14, 4) NOT NULL CHECK (unit_cost >= 0),   -- cost of one unit of stock
    PRIMARY KEY (sale_date, store_id, product_id)
);

-- One row per model version, forecast day, store and product: what the model predicted.
-- Stock is ordered from the forecast, so forecast - actual is what stays on the shelf and
-- actual - forecast what could not be sold.
CREATE TABLE IF NOT EXISTS forecasts (
    model          text           NOT NULL,
    version        text           NOT NULL,
    forecast_date  date           NOT NULL,
    store_id       text           NOT NULL,
    product_id     text           NOT NULL,
    forecast_units numeric(14, 3) NOT NULL CHECK (forecast_units >= 0),
    created_at     timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version, forecast_date, store_id, product_id)
);
