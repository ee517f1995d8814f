-- Take a due member of a lease index for one recovery pass: move its deadline to the next try,
-- so a member that cannot be settled now waits its turn instead of blocking the ones behind it,
-- and two instances never work on one member at once.
-- KEYS[1] the index; ARGV[1] member, ARGV[2] now ms, ARGV[3] the next try ms.
-- Returns 1 if taken, 0 if it is not due (renewed, or taken by another pass) or gone.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
