-- Put an existing QUEUED job (e.g. a replayed one) in the admission queue; a job already
-- waiting keeps its place. KEYS: 1 job, 2 its user's queue set, capacity_keys(3).
-- ARGV: job_id, boost. Returns queued | live | missing | <status>.
capacity_keys(3)
local job_id, boost = ARGV[1], tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'status', 'user_id')
if not h[1] then return 'missing' end
if h[1] ~= 'queued' then return h[1] end
if redis.call('ZSCORE', CK.live, job_id) then return 'live' end
enqueue(job_id, KEYS[1], KEYS[2], boost)
return 'queued'
