-- Rename, describe or move a category, if it did not change since it was read.
-- KEYS: 1 category, 2 old siblings, 3 new siblings, 4 all categories by name,
--   5 category parents, 6 subtree product counts, then the new parent and its ancestors up to
--   a root (ARGV[6] of them).
-- ARGV: 1 expected rev, 2 name, 3 lower-cased name, 4 description, 5 parent id,
--   6 number of ancestors, then each ancestor's expected parent id.
-- Returns {'OK'} | {'NOT_FOUND'} | {'PARENT_NOT_FOUND'} | {'CONFLICT'} | {'CYCLE'}
--   | {'DUPLICATE'}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
local f = redis.call('HMGET', KEYS[1], 'id', 'sort_key', 'rev', 'parent_id')
if f[3] ~= ARGV[1] then
  return {'CONFLICT'}
end
-- The chain from the new parent up to a root must be as it was read, and must not pass
-- through this category (that would make a cycle).
for i = 1, tonumber(ARGV[6]) do
  local a = redis.call('HMGET', KEYS[6 + i], 'id', 'parent_id')
  if not a[1] then
    if i == 1 then
      return {'PARENT_NOT_FOUND'}
    end
    return {'CONFLICT'}
  end
  if a[1] == f[1] then
    return {'CYCLE'}
  end
  if a[2] ~= ARGV[6 + i] then
    return {'CONFLICT'}
  end
end
local prefix = ARGV[3] .. '\0'
local same = redis.call('ZRANGE', KEYS[3], '[' .. prefix, '(' .. ARGV[3] .. '\1', 'BYLEX',
  'LIMIT', 0, 2)
for _, member in ipairs(same) do
  if member ~= f[2] then
    return {'DUPLICATE'}
  end
end
local member = prefix .. f[1]
redis.call('ZREM', KEYS[2], f[2])
redis.call('ZREM', KEYS[4], f[2])
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'description', ARGV[4], 'parent_id', ARGV[5],
  'sort_key', member)
redis.call('HINCRBY', KEYS[1], 'rev', 1)
redis.call('ZADD', KEYS[3], 0, member)
redis.call('ZADD', KEYS[4], 0, member)
-- A move carries the subtree's product count from the old ancestors to the new ones: O(depth),
-- however many products and categories the subtree holds (listings test membership lazily).
redis.call('HSET', KEYS[5], f[1], ARGV[5])
if f[4] ~= ARGV[5] then
  local moved = tonumber(redis.call('HGET', KEYS[6], f[1]) or '0')
  if moved ~= 0 then
    count_in_subtrees(KEYS[5], KEYS[6], f[4], -moved)
    count_in_subtrees(KEYS[5], KEYS[6], ARGV[5], moved)
  end
end
return {'OK'}
