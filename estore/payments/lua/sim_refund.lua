-- The card simulator's refund: at most once per idempotency key, never above what was charged.
-- KEYS[1] the refund's record (by idempotency key), KEYS[2] the charge's ledger hash (what was
-- refunded; and what was charged, for a charge made before its record was its ledger entry),
-- KEYS[3] the list of refunds made on the charge, KEYS[4] the charge's record, if its id names
-- one (sim_charge.lua); ARGV[1] the amount, ARGV[2] the charge's id.
-- Returns {outcome, refusal}: the first answer given for this key, whenever asked again.
local earlier = redis.call('HMGET', KEYS[1], 'outcome', 'refusal')
if earlier[1] then
  return {earlier[1], earlier[2]}
end
local outcome, refusal = 'succeeded', ''
local ledger = redis.call('HMGET', KEYS[2], 'charged', 'refunded')
local charged = ledger[1]
if not charged and KEYS[4] then
  local record = redis.call('GET', KEYS[4])
  if record then
    local charge = cjson.decode(record)
    if charge.outcome == 'succeeded' and charge.charge_id == ARGV[2] then
      charged = charge.amount
    end
  end
end
if not charged then
  outcome, refusal = 'refused', 'CHARGE_NOT_FOUND'
elseif tonumber(ledger[2] or '0') + tonumber(ARGV[1]) > tonumber(charged) then
  outcome, refusal = 'refused', 'EXCEEDS_CHARGE'
else
  redis.call('HINCRBY', KEYS[2], 'refunded', ARGV[1])
  redis.call('RPUSH', KEYS[3], ARGV[1])
end
redis.call('HSET', KEYS[1], 'outcome', outcome, 'refusal', refusal, 'amount', ARGV[1])
return {outcome, refusal}
