-- Shared by every job-state script. The transition table is generated from domain/status.py
-- and prepended as two strings: TRANSITIONS = '|from>to|...|' and TERMINALS = '|status|...|'.
--
-- KEYS[1] job hash, KEYS[2] event stream, KEYS[3] cancel flag.
-- PREFIX, NOW, MAXLEN and STAGE_DEADLINE are set by each script before calling apply().

local PREFIX, NOW, MAXLEN, STAGE_DEADLINE

local function allowed(from, to)
  return string.find(TRANSITIONS, '|' .. from .. '>' .. to .. '|', 1, true) ~= nil
end

local function terminal(status)
  return string.find(TERMINALS, '|' .. status .. '|', 1, true) ~= nil
end

local function live_keys(job)
  local ids = redis.call('HMGET', job, 'user_id', 'project_id')
  return PREFIX .. ':live', PREFIX .. ':live:user:' .. (ids[1] or ''),
         PREFIX .. ':live:project:' .. (ids[2] or ''), ids[2]
end

-- Write status + timestamps + fields, append the event, keep the indexes right.
-- `fields` is a flat list {k1, v1, k2, v2, ...} written to the job and the event; `quiet`
-- (optional) the same, written to the job only (bookkeeping clients have no use for).
-- Returns the event id and the flat list of what it wrote to the job (so a caller holding
-- the job's fields can bring them up to date).
local function apply(job, events, job_id, cur, to, fields, quiet)
  local set = {'status', to, 'updated_at', NOW, to .. '_at', NOW, 'stage_started_at', NOW}
  local ev = {'type', 'status', 'status', to, 'from', cur, 'at', NOW}
  for i = 1, #fields, 2 do
    set[#set + 1] = fields[i]; set[#set + 1] = fields[i + 1]
    ev[#ev + 1] = fields[i]; ev[#ev + 1] = fields[i + 1]
  end
  for i = 1, #(quiet or {}), 2 do
    set[#set + 1] = quiet[i]; set[#set + 1] = quiet[i + 1]
  end
  if to == 'failed' then
    set[#set + 1] = 'failed_stage'; set[#set + 1] = cur
    ev[#ev + 1] = 'failed_stage'; ev[#ev + 1] = cur
  end
  local g, u, p, project_id
  if terminal(to) then g, u, p, project_id = live_keys(job) end  -- a stage entry needs none
  if to == 'ready' then
    local n = redis.call('INCR', PREFIX .. ':project:' .. project_id .. ':build_seq')
    local version = 'build_v0_' .. n
    -- The project's versions by number (domain/line.py reads them).
    redis.call('ZADD', PREFIX .. ':project:' .. project_id .. ':versions', n, job_id)
    set[#set + 1] = 'build_version'; set[#set + 1] = version
    ev[#ev + 1] = 'build_version'; ev[#ev + 1] = version
  end
  redis.call('HSET', job, unpack(set))
  if terminal(to) then
    -- Every terminal path frees the job's capacity slots and leaves the watchdog's index.
    redis.call('ZREM', g, job_id)
    redis.call('SREM', u, job_id)
    redis.call('SREM', p, job_id)
    redis.call('ZREM', PREFIX .. ':active', job_id)
    if to == 'failed' then redis.call('ZADD', PREFIX .. ':failed', NOW, job_id) end
  elseif STAGE_DEADLINE then
    redis.call('ZADD', PREFIX .. ':active', tonumber(NOW) + STAGE_DEADLINE, job_id)
  end
  return redis.call('XADD', events, 'MAXLEN', '~', MAXLEN, '*', unpack(ev)), set
end
