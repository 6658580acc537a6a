-- Put an existing QUEUED job (e.g. a replayed one) in the admission queue; a job already
-- waiting keeps its place. ARGV: prefix, job_id, boost. Returns queued | live | missing | <status>.
PREFIX = ARGV[1]
local job_id, boost = ARGV[2], tonumber(ARGV[3])
local h = redis.call('HMGET', k_job(job_id), 'status', 'user_id')
if not h[1] then return 'missing' end
if h[1] ~= 'queued' then return h[1] end
if redis.call('ZSCORE', k_live(), job_id) then return 'live' end
enqueue(job_id, h[2], boost)
return 'queued'
