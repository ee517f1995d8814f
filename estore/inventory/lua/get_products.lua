-- Read many products in one call (a listing page): one HMGET reply per product, in order.
-- A product deleted since is a reply of nils. One script call instead of a pipeline of HMGETs
-- spares the client packing the field names once per product.
-- KEYS: the product hashes.  ARGV: the field names to read.
local replies = {}
for i, key in ipairs(KEYS) do
  replies[i] = redis.call('HMGET', key, unpack(ARGV))
end
return replies
