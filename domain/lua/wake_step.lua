-- A wake's worker: claim the wake (`step` = 'claim': counts the delivery), or record its
-- next step, only while the mark is still this wake's. The mark's expiry moves along.
-- KEYS: 1 wake mark. ARGV: 1 wake id, 2 step, 3 sandbox id ('' : unchanged), 4 mark expiry
-- (s), 5 most deliveries. Returns {outcome, the mark's sandbox before}: ok | stale |
-- exhausted (claimed more than ARGV[5] times: its workers keep dying).
local w = redis.call('HMGET', KEYS[1], 'wake_id', 'state', 'sandbox_id')
if w[1] ~= ARGV[1] or w[2] == 'failed' then return {'stale', ''} end
local before = w[3] or ''
if ARGV[2] == 'claim' then
  if redis.call('HINCRBY', KEYS[1], 'deliveries', 1) > tonumber(ARGV[5]) then
    return {'exhausted', before}
  end
  redis.call('HSET', KEYS[1], 'state', 'running', 'step', 'sandbox')
  redis.call('HDEL', KEYS[1], 'sandbox_id')
else
  redis.call('HSET', KEYS[1], 'step', ARGV[2])
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'sandbox_id', ARGV[3]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return {'ok', before}
