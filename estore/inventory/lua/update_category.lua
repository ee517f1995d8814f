-- Rename, describe or move a category, if it did not change since it was read.
-- KEYS: 1 category, 2 old siblings, 3 new siblings, 4 all categories by name, then the new
--   parent and its ancestors up to a root (ARGV[6] of them).
-- ARGV: 1 expected rev, 2 name, 3 lower-cased name, 4 description, 5 parent id,
--   6 number of ancestors, then each ancestor's expected parent id.
-- Returns {'OK'} | {'NOT_FOUND'} | {'PARENT_NOT_FOUND'} | {'CONFLICT'} | {'CYCLE'}
--   | {'DUPLICATE'}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
local f = redis.call('HMGET', KEYS[1], 'id', 'sort_key', 'rev')
if f[3] ~= ARGV[1] then
  return {'CONFLICT'}
end
-- The chain from the new parent up to a root must be as it was read, and must not pass
-- through this category (that would make a cycle).
for i = 1, tonumber(ARGV[6]) do
  local a = redis.call('HMGET', KEYS[4 + i], 'id', 'parent_id')
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
return {'OK'}
