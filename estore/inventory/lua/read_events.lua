-- WatchInventory's catch-up read: the events after a cursor, and what the stream still keeps,
-- read together so that no trim can fall between the two.
-- KEYS: 1 the event stream.
-- ARGV: 1 the cursor (an id; events strictly after it), 2 how many events at most (0: none).
-- Returns {oldest kept id or '', last id ever added, events trimmed so far, {entries}}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'', '0-0', 0, {}}
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local fields = {}
for i = 1, #info, 2 do
  fields[info[i]] = info[i + 1]
end
local first = fields['first-entry']
local oldest = first and first[1] or ''
local trimmed = fields['entries-added'] - fields['length']
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
end
return {oldest, fields['last-generated-id'], trimmed, entries}
