-- A wake failed: keep its code on the mark (visitors see it; a visit after the retry delay
-- starts a new wake) and free its slot. Only while the mark is this wake's.
-- KEYS: 1 wake mark, 2 live, 3 live_user, 4 live_project.
-- ARGV: 1 wake id, 2 job id, 3 code, 4 detail, 5 now, 6 mark expiry (s). Returns 1 or 0.
if redis.call('HGET', KEYS[1], 'wake_id') ~= ARGV[1] then return 0 end
local member = 'wake:' .. ARGV[2]
redis.call('ZREM', KEYS[2], member)
redis.call('SREM', KEYS[3], member)
redis.call('SREM', KEYS[4], member)
redis.call('HSET', KEYS[1], 'state', 'failed', 'code', ARGV[3], 'detail', ARGV[4],
           'failed_at', ARGV[5])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
return 1
