-- spec.rollout.retry = a new value (a nonce): the operator acts once per value, as `kubectl modelops retry`.
local os = require("os")
if obj.spec.rollout == nil then obj.spec.rollout = {} end
obj.spec.rollout.retry = "argocd-" .. os.time()
return obj
