-- A visit to a READY build's expired preview: join the wake in progress, report a recent
-- failure, or start a wake holding a sandbox slot (the tier's per-user and per-project caps
-- and the global cap, as admission counts them: capacity_lib.lua). One wake per build at a
-- time: the mark (KEYS[2]) is the lock, with an expiry in case its worker dies.
-- KEYS: 1 job, 2 wake mark, 3 live, 4 live_user, 5 live_project.
-- ARGV: 1 now, 2 the sandbox the caller saw expired, 3 per-user cap, 4 per-project cap,
-- 5 global cap, 6 seconds a failure is shown before a visit retries, 7 new wake id,
-- 8 mark expiry (s), 9 job id.
-- Returns {'started', wake_id} | {'waking', step} | {'failed', code, detail} |
-- {'quota', which} | {'moved'} (the job has another sandbox now) | {'not_ready'}.
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'status', 'sandbox_id')
if h[1] ~= 'ready' then return {'not_ready'} end
if (h[2] or '') ~= ARGV[2] then return {'moved'} end
local w = redis.call('HMGET', KEYS[2], 'state', 'step', 'code', 'detail', 'failed_at')
if w[1] and w[1] ~= 'failed' then return {'waking', w[2] or 'queued'} end
if w[1] == 'failed' and now - tonumber(w[5] or '0') < tonumber(ARGV[6]) then
  return {'failed', w[3] or 'wake_failed', w[4] or ''}
end
local member = 'wake:' .. ARGV[9]
if not redis.call('ZSCORE', KEYS[3], member) then  -- a slot a dead wake left is its own
  if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return {'quota', 'global'} end
  if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[3]) then return {'quota', 'user'} end
  if redis.call('SCARD', KEYS[5]) >= tonumber(ARGV[4]) then return {'quota', 'project'} end
end
redis.call('ZADD', KEYS[3], now, member)
redis.call('SADD', KEYS[4], member)
redis.call('SADD', KEYS[5], member)
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'state', 'queued', 'step', 'queued', 'wake_id', ARGV[7],
           'started_at', ARGV[1], 'deliveries', 0)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[8]))
return {'started', ARGV[7]}
