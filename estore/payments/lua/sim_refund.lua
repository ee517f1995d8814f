-- The card simulator's refund: at most once per idempotency key, never above what was charged.
-- KEYS[1] the refund's record (by idempotency key), KEYS[2] the charge's ledger hash,
-- KEYS[3] the list of refunds made on the charge; ARGV[1] the amount.
-- Returns {outcome, refusal}: the first answer given for this key, whenever asked again.
local earlier = redis.call('HMGET', KEYS[1], 'outcome', 'refusal')
if earlier[1] then
  return {earlier[1], earlier[2]}
end
local outcome, refusal = 'succeeded', ''
local charged = redis.call('HGET', KEYS[2], 'charged')
if not charged then
  outcome, refusal = 'refused', 'CHARGE_NOT_FOUND'
elseif tonumber(redis.call('HGET', KEYS[2], 'refunded') or '0') + tonumber(ARGV[1])
    > tonumber(charged) then
  outcome, refusal = 'refused', 'EXCEEDS_CHARGE'
else
  redis.call('HINCRBY', KEYS[2], 'refunded', ARGV[1])
  redis.call('RPUSH', KEYS[3], ARGV[1])
end
redis.call('HSET', KEYS[1], 'outcome', outcome, 'refusal', refusal, 'amount', ARGV[1])
return {outcome, refusal}
