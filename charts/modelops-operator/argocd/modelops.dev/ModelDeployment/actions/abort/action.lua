-- spec.rollout.abort = a new value (a nonce): the operator acts once per value, as `kubectl modelops abort`.
local os = require("os")
if obj.spec.rollout == nil then obj.spec.rollout = {} end
obj.spec.rollout.abort = "argocd-" .. os.time()
return obj
