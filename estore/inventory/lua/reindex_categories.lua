-- Record the parent of categories written before the parents hash existed (layout version 2).
-- Idempotent: it copies what each category hash says now.
-- KEYS: 1 category parents, then category hashes (a missing one is skipped).
-- Returns the number of categories recorded.
local recorded = 0
for i = 2, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'id', 'parent_id')
  if f[1] then
    redis.call('HSET', KEYS[1], f[1], f[2] or '')
    recorded = recorded + 1
  end
end
return recorded
