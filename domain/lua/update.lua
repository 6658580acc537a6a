-- Write a stage's non-status fields (sandbox id, files written) only while the job is still at
-- that stage and not cancelled: after a cancel nothing writes to the job again.
-- KEYS[1] job hash, KEYS[2] events (unused), KEYS[3] cancel flag, KEYS[4] files hash.
-- ARGV: expected status, number of field pairs N, N field pairs, then file path/text pairs.
local cur = redis.call('HGET', KEYS[1], 'status')
if cur ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local n = tonumber(ARGV[2])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * n)) end
if #ARGV > 2 + 2 * n then
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[4], unpack(ARGV, 3 + 2 * n, #ARGV))
end
return 1
