-- The watchdog's take-over of a stage that stopped progressing (its message lost, its worker
-- frozen): only if the job is still at that stage since the same moment, hand the stage to a
-- new message id (the holder), or report that the re-drive budget is spent.
-- ARGV: prefix, now, maxlen, stage_deadline, job_id, status, stage_started_at, new_holder,
-- max_redrives.
PREFIX, NOW, MAXLEN = ARGV[1], ARGV[2], ARGV[3]
local job = KEYS[1]
local h = redis.call('HMGET', job, 'status', 'stage_started_at', 'attempt', 'iteration',
  'redrives')
if h[1] ~= ARGV[6] or h[2] ~= ARGV[7] then
  -- It moved on (or vanished): drop it from the index unless it is still active elsewhere.
  if not h[1] or terminal(h[1]) then redis.call('ZREM', PREFIX .. ':active', ARGV[5]) end
  return {'moved'}
end
local redrives = tonumber(h[5] or '0')
if redrives >= tonumber(ARGV[9]) then return {'exhausted', h[3], h[4]} end
redis.call('HSET', job, 'holder', ARGV[8], 'redrives', redrives + 1, 'deliveries', 0)
redis.call('ZADD', PREFIX .. ':active', tonumber(NOW) + tonumber(ARGV[4]), ARGV[5])
return {'ok', h[3], h[4]}
