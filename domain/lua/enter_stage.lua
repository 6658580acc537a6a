-- A stage actor's whole entry in one round trip: cancel check, duplicate check, delivery
-- counting, and the transition into the stage. ARGV: prefix, now, maxlen, stage_deadline,
-- job_id, stage, attempt, iteration, max_deliveries, message_id, with_files ('1': also return
-- the job's files, KEYS[4]; saves the stage a round trip).
-- The message that entered a stage holds it: only a redelivery of that same message (a crash,
-- a retry) resumes it; any other message for the stage is a duplicate and is dropped.
-- Returns {outcome, status, job JSON, files JSON}: the job's fields (and files) as one JSON
-- array [k1, v1, ...] each, which is far cheaper to parse than a long multi-bulk reply;
-- outcome is one of entered | resumed | duplicate | cancelled | exhausted | missing.
PREFIX, NOW, MAXLEN = ARGV[1], ARGV[2], ARGV[3]
STAGE_DEADLINE = tonumber(ARGV[4]); if STAGE_DEADLINE == 0 then STAGE_DEADLINE = nil end
local job, events = KEYS[1], KEYS[2]
local job_id, stage = ARGV[5], ARGV[6]
local attempt, iteration, max_deliveries = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local message_id = ARGV[10]

local function entry(outcome, cur)
  local files = '[]'
  if ARGV[11] == '1' and KEYS[4] then files = cjson.encode(redis.call('HGETALL', KEYS[4])) end
  return {outcome, cur, cjson.encode(redis.call('HGETALL', job)), files}
end
local h = redis.call('HMGET', job, 'status', 'attempt', 'iteration', 'holder')
local cur = h[1]
if not cur then return {'missing', ''} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'cancelled', cur} end
if tonumber(h[2]) ~= attempt then return {'duplicate', cur} end
local job_iteration = tonumber(h[3])
if cur == stage then
  if job_iteration ~= iteration or h[4] ~= message_id then return {'duplicate', cur} end
  -- The same stage again: a redelivery after a crash (or a retry). Count it.
  local n = redis.call('HINCRBY', job, 'deliveries', 1)
  redis.call('HINCRBY', job, 'redeliveries', 1)
  if n > max_deliveries then return {'exhausted', cur} end
  return entry('resumed', cur)
end
if not (ALLOWED[cur] and ALLOWED[cur][stage]) then return {'duplicate', cur} end
local wanted = job_iteration
if cur == 'checks' and stage == 'scaffold' then wanted = job_iteration + 1 end
if iteration ~= wanted then return {'duplicate', cur} end
apply(job, events, job_id, cur, stage,
  {'iteration', tostring(iteration), 'deliveries', '1', 'holder', message_id})
return entry('entered', cur)
