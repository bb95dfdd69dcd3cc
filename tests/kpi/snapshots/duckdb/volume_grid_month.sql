WITH "t4" AS (
  SELECT
    "t2"."grid_id" AS "key",
    DATE_TRUNC('MONTH', "t2"."day") AS "period",
    SUM("t2"."parcels") AS "parcels",
    CAST(ROUND(SUM("t2"."revenue"), 2) AS DOUBLE) AS "revenue"
  FROM (
    SELECT
      "t0"."day",
      "t0"."org_unit_id",
      "t0"."customer_id",
      "t0"."market_id",
      "t0"."grid_id",
      "t0"."outlet_id",
      "t0"."product",
      "t0"."platform",
      "t0"."parcels",
      "t0"."revenue",
      "t0"."weight_kg",
      "t0"."in_province_parcels",
      "t0"."line_parcels",
      CAST(NULL AS INT) AS "team_id",
      CAST(NULL AS INT) AS "owner_id"
    FROM "daily" AS "t0"
    WHERE
      "t0"."day" >= MAKE_DATE(2024, 12, 28) AND "t0"."day" <= MAKE_DATE(2026, 2, 28)
  ) AS "t2"
  GROUP BY
    1,
    2
)
SELECT
  "t12"."key" AS "grid_id",
  "t12"."period",
  "t12"."parcels",
  "t12"."revenue",
  "t12"."parcels_prev",
  "t12"."revenue_prev",
  "t12"."parcels_ly",
  "t12"."revenue_ly",
  CASE
    WHEN "t12"."parcels_prev" > 0
    THEN (
      "t12"."parcels" - "t12"."parcels_prev"
    ) / "t12"."parcels_prev"
    ELSE NULL
  END AS "mom",
  CASE
    WHEN "t12"."parcels_ly" > 0
    THEN (
      "t12"."parcels" - "t12"."parcels_ly"
    ) / "t12"."parcels_ly"
    ELSE NULL
  END AS "yoy"
FROM (
  SELECT
    "t11"."key",
    "t11"."period",
    "t11"."parcels",
    "t11"."revenue",
    COALESCE("t11"."parcels_prev", 0) AS "parcels_prev",
    COALESCE("t11"."revenue_prev", 0.0) AS "revenue_prev",
    COALESCE("t11"."parcels_ly", 0) AS "parcels_ly",
    COALESCE("t11"."revenue_ly", 0.0) AS "revenue_ly"
  FROM (
    SELECT
      "t5"."key",
      "t5"."period",
      "t5"."parcels",
      "t5"."revenue",
      "t9"."parcels_prev",
      "t9"."revenue_prev",
      "t10"."parcels_ly",
      "t10"."revenue_ly"
    FROM (
      SELECT
        "t1"."grid_id" AS "key",
        DATE_TRUNC('MONTH', "t1"."day") AS "period",
        SUM("t1"."parcels") AS "parcels",
        CAST(ROUND(SUM("t1"."revenue"), 2) AS DOUBLE) AS "revenue"
      FROM (
        SELECT
          "t0"."day",
          "t0"."org_unit_id",
          "t0"."customer_id",
          "t0"."market_id",
          "t0"."grid_id",
          "t0"."outlet_id",
          "t0"."product",
          "t0"."platform",
          "t0"."parcels",
          "t0"."revenue",
          "t0"."weight_kg",
          "t0"."in_province_parcels",
          "t0"."line_parcels",
          CAST(NULL AS INT) AS "team_id",
          CAST(NULL AS INT) AS "owner_id"
        FROM "daily" AS "t0"
        WHERE
          "t0"."day" >= MAKE_DATE(2026, 2, 1) AND "t0"."day" <= MAKE_DATE(2026, 2, 28)
      ) AS "t1"
      GROUP BY
        1,
        2
    ) AS "t5"
    LEFT OUTER JOIN (
      SELECT
        "t6"."key",
        "t6"."period" AS "prev_period",
        "t6"."parcels" AS "parcels_prev",
        "t6"."revenue" AS "revenue_prev"
      FROM "t4" AS "t6"
    ) AS "t9"
      ON "t5"."key" = "t9"."key"
      AND (
        "t5"."period" - INTERVAL '1' MONTH
      ) = "t9"."prev_period"
    LEFT OUTER JOIN (
      SELECT
        "t6"."key",
        "t6"."period" AS "ly_period",
        "t6"."parcels" AS "parcels_ly",
        "t6"."revenue" AS "revenue_ly"
      FROM "t4" AS "t6"
    ) AS "t10"
      ON "t5"."key" = "t10"."key"
      AND (
        "t5"."period" - INTERVAL '1' YEAR
      ) = "t10"."ly_period"
  ) AS "t11"
) AS "t12"
ORDER BY
  "t12"."period" ASC,
  "t12"."key" ASC
