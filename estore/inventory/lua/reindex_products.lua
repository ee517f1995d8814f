-- File products written before subtree listings existed (layout version 2) under their
-- category. Idempotent: a product already filed (by this or by a product write) is left alone,
-- so a re-index can stop and start again, and two instances may run it at once.
-- KEYS: 1 category of each product, 2 category parents, 3 subtree product counts, then product
--   hashes (a missing one is skipped).
-- Returns the number of products filed.
local filed = 0
for i = 4, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'id', 'category_id')
  if f[1] and redis.call('HEXISTS', KEYS[1], f[1]) == 0 then
    file_product({KEYS[1], KEYS[2], KEYS[3]}, f[1], f[2] or '')
    filed = filed + 1
  end
end
return filed
