-- The dates a model is evaluated at: one row per date in $dates.
SELECT unnest($dates::DATE[]) AS as_of
