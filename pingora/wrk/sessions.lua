-- wrk script: every request carries one of 10,000 session keys in `x-session`, in turn.
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/", { ["x-session"] = "session-" .. (counter % 10000) })
end
