WITH "t4" AS (
  SELECT
    "t3"."customer_id",
    "t3"."day",
    "t3"."parcels",
    "t3"."market_id",
    "t3"."grid_id",
    "t3"."team_id",
    "t3"."owner_id",
    "t3"."prev_day",
    (
      "t3"."prev_day" IS NULL
    )
    OR (
      (
        DATE_DIFF('DAY', MAKE_DATE(1970, 1, 1), "t3"."day") - DATE_DIFF('DAY', MAKE_DATE(1970, 1, 1), "t3"."prev_day")
      ) >= 30
    ) AS "is_start"
  FROM (
    SELECT
      "t2"."customer_id",
      "t2"."day",
      "t2"."parcels",
      "t2"."market_id",
      "t2"."grid_id",
      "t2"."team_id",
      "t2"."owner_id",
      LAG("t2"."day") OVER (
        PARTITION BY "t2"."customer_id"
        ORDER BY "t2"."day" ASC
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS "prev_day"
    FROM (
      SELECT
        "t1"."customer_id",
        "t1"."day",
        SUM("t1"."parcels") AS "parcels",
        MAX("t1"."market_id") AS "market_id",
        MAX("t1"."grid_id") AS "grid_id",
        MAX("t1"."team_id") AS "team_id",
        MAX("t1"."owner_id") AS "owner_id"
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
          "t0"."day" >= MAKE_DATE(2023, 12, 21)
          AND "t0"."day" <= MAKE_DATE(2026, 2, 28)
          AND "t0"."customer_id" IS NOT NULL
      ) AS "t1"
      GROUP BY
        1,
        2
    ) AS "t2"
  ) AS "t3"
), "t6" AS (
  SELECT
    "t5"."customer_id",
    "t5"."day",
    "t5"."parcels",
    "t5"."market_id",
    "t5"."grid_id",
    "t5"."team_id",
    "t5"."owner_id",
    "t5"."prev_day",
    "t5"."is_start",
    "t5"."is_start"
    AND (
      "t5"."day" >= MAKE_DATE(2026, 2, 1)
    )
    AND (
      "t5"."day" <= MAKE_DATE(2026, 2, 28)
    ) AS "starts_in_period"
  FROM "t4" AS "t5"
)
SELECT
  "t18"."customer_id",
  "t18"."last_day",
  "t18"."activated",
  "t18"."market_id",
  "t18"."grid_id",
  "t18"."team_id",
  "t18"."owner_id",
  "t18"."activated_on",
  "t18"."parcels_since",
  DATE_DIFF('DAY', MAKE_DATE(1970, 1, 1), "t18"."last_day") > 20482 AS "active",
  "t18"."activated"
  AND (
    (
      "t18"."parcels_since" / (
        (
          20512 - DATE_DIFF('DAY', MAKE_DATE(1970, 1, 1), "t18"."activated_on")
        ) + 1
      )
    ) >= 10
  ) AS "new_effective",
  (
    (
      DATE_DIFF('DAY', MAKE_DATE(1970, 1, 1), "t18"."last_day") + 30
    ) >= 20485
  )
  AND (
    (
      DATE_DIFF('DAY', MAKE_DATE(1970, 1, 1), "t18"."last_day") + 30
    ) <= 20512
  ) AS "churned"
FROM (
  SELECT
    "t13"."customer_id",
    "t13"."last_day",
    "t13"."activated",
    "t13"."market_id",
    "t13"."grid_id",
    "t13"."team_id",
    "t13"."owner_id",
    "t12"."activated_on",
    "t17"."parcels_since"
  FROM (
    SELECT
      "t8"."customer_id",
      MAX("t8"."day") AS "last_day",
      BOOL_OR(CAST("t8"."starts_in_period" AS BOOLEAN)) AS "activated",
      FIRST("t8"."market_id" ORDER BY "t8"."day" DESC) AS "market_id",
      FIRST("t8"."grid_id" ORDER BY "t8"."day" DESC) AS "grid_id",
      FIRST("t8"."team_id" ORDER BY "t8"."day" DESC) AS "team_id",
      FIRST("t8"."owner_id" ORDER BY "t8"."day" DESC) AS "owner_id"
    FROM "t6" AS "t8"
    GROUP BY
      1
  ) AS "t13"
  INNER JOIN (
    SELECT
      "t7"."customer_id",
      MAX("t7"."day") AS "activated_on"
    FROM (
      SELECT
        "t5"."customer_id",
        "t5"."day",
        "t5"."parcels",
        "t5"."market_id",
        "t5"."grid_id",
        "t5"."team_id",
        "t5"."owner_id",
        "t5"."prev_day",
        "t5"."is_start",
        "t5"."is_start"
        AND (
          "t5"."day" >= MAKE_DATE(2026, 2, 1)
        )
        AND (
          "t5"."day" <= MAKE_DATE(2026, 2, 28)
        ) AS "starts_in_period"
      FROM "t4" AS "t5"
      WHERE
        "t5"."is_start"
    ) AS "t7"
    GROUP BY
      1
  ) AS "t12"
    ON "t13"."customer_id" = "t12"."customer_id"
  INNER JOIN (
    SELECT
      "t15"."customer_id",
      SUM("t15"."parcels") AS "parcels_since"
    FROM (
      SELECT
        *
      FROM (
        SELECT
          "t9"."customer_id",
          "t9"."day",
          "t9"."parcels",
          "t9"."market_id",
          "t9"."grid_id",
          "t9"."team_id",
          "t9"."owner_id",
          "t9"."prev_day",
          "t9"."is_start",
          "t9"."starts_in_period",
          "t12"."activated_on"
        FROM "t6" AS "t9"
        INNER JOIN (
          SELECT
            "t7"."customer_id",
            MAX("t7"."day") AS "activated_on"
          FROM (
            SELECT
              "t5"."customer_id",
              "t5"."day",
              "t5"."parcels",
              "t5"."market_id",
              "t5"."grid_id",
              "t5"."team_id",
              "t5"."owner_id",
              "t5"."prev_day",
              "t5"."is_start",
              "t5"."is_start"
              AND (
                "t5"."day" >= MAKE_DATE(2026, 2, 1)
              )
              AND (
                "t5"."day" <= MAKE_DATE(2026, 2, 28)
              ) AS "starts_in_period"
            FROM "t4" AS "t5"
            WHERE
              "t5"."is_start"
          ) AS "t7"
          GROUP BY
            1
        ) AS "t12"
          ON "t9"."customer_id" = "t12"."customer_id"
      ) AS "t14"
      WHERE
        "t14"."day" >= "t14"."activated_on"
    ) AS "t15"
    GROUP BY
      1
  ) AS "t17"
    ON "t13"."customer_id" = "t17"."customer_id"
) AS "t18"
