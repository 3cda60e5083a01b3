-- Benchmarks only (docs/benchmarks.md): the database work of one questionnaire submission —
-- one response row and its answer rows (30, as the C30) — as one pgbench transaction: the limit
-- the HTTP submissions are compared with.
\set p random(1, 1000000000)
WITH r AS (
  INSERT INTO bench_response (id, participant, visit, questionnaire, status, submitted_at)
  VALUES (gen_random_uuid(), :p, 'BL', 'eortc-qlq-c30', 'completed', now())
  RETURNING id
)
INSERT INTO bench_answer (response_id, item, value, answered_at)
SELECT r.id, 'q' || g, 1 + g % 4, now() FROM r, generate_series(1, 30) g;
