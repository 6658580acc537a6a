-- An operator's replay: the one way out of FAILED. Opens attempt N+1 of the job, back in the
-- queue, remembering which stage to resume at. Two operators racing: only one sees the
-- expected attempt. KEYS: the job's state keys (state_keys, the first five).
-- ARGV: now, maxlen, stage_deadline, job_id, expected_attempt, resume_at, include_cancelled.
NOW, MAXLEN = ARGV[1], ARGV[2]
local k = state_keys(1)
local job_id, expected_attempt, resume_at, include_cancelled = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local h = redis.call('HMGET', k.job, 'status', 'attempt', 'cancelled')
if not h[1] then return {'missing'} end
if h[1] ~= 'failed' then return {'not_failed', h[1]} end
if h[2] ~= expected_attempt then return {'conflict', h[2]} end
if h[3] == '1' and include_cancelled ~= '1' then return {'cancelled', h[1]} end
local attempt = tonumber(h[2]) + 1
redis.call('HDEL', k.job, 'error_message', 'error_detail', 'error_code', 'sandbox_id', 'holder',
  'preview_url', 'sandbox_expires_at', 'deliveries', 'redrives', 'sandbox_replacements',
  'handed_off', 'next_message', 'lease_until')
redis.call('HSET', k.job, 'status', 'queued', 'attempt', attempt, 'iteration', 0,
  'resume_at', resume_at, 'cancelled', '0', 'updated_at', NOW, 'queued_at', NOW,
  'stage_started_at', NOW)
redis.call('DEL', k.cancel)
redis.call('ZREM', k.failed, job_id)
local id = redis.call('XADD', k.events, 'MAXLEN', '~', MAXLEN, '*', 'type', 'status',
  'status', 'queued', 'from', 'failed', 'at', NOW, 'attempt', attempt, 'resume_at', resume_at)
return {'ok', tostring(attempt), id}
