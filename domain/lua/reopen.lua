-- An operator's replay: the one way out of FAILED. Opens attempt N+1 of the job, back in the
-- queue, remembering which stage to resume at. Two operators racing: only one sees the
-- expected attempt. ARGV: prefix, now, maxlen, stage_deadline, job_id, expected_attempt,
-- resume_at, include_cancelled ('1'/'0').
PREFIX, NOW, MAXLEN = ARGV[1], ARGV[2], ARGV[3]
local job, events = KEYS[1], KEYS[2]
local job_id, expected_attempt, resume_at, include_cancelled = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local h = redis.call('HMGET', job, 'status', 'attempt', 'cancelled')
if not h[1] then return {'missing'} end
if h[1] ~= 'failed' then return {'not_failed', h[1]} end
if h[2] ~= expected_attempt then return {'conflict', h[2]} end
if h[3] == '1' and include_cancelled ~= '1' then return {'cancelled', h[1]} end
local attempt = tonumber(h[2]) + 1
redis.call('HDEL', job, 'error_message', 'error_detail', 'error_code', 'sandbox_id', 'holder',
  'preview_url', 'sandbox_expires_at', 'deliveries', 'redrives', 'sandbox_replacements',
  'handed_off', 'next_message', 'lease_until')
redis.call('HSET', job, 'status', 'queued', 'attempt', attempt, 'iteration', 0,
  'resume_at', resume_at, 'cancelled', '0', 'updated_at', NOW, 'queued_at', NOW,
  'stage_started_at', NOW)
redis.call('DEL', KEYS[3])
redis.call('ZREM', PREFIX .. ':failed', job_id)
local id = redis.call('XADD', events, 'MAXLEN', '~', MAXLEN, '*', 'type', 'status',
  'status', 'queued', 'from', 'failed', 'at', NOW, 'attempt', attempt, 'resume_at', resume_at)
return {'ok', tostring(attempt), id}
