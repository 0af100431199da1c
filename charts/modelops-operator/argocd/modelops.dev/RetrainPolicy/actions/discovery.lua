-- Argo CD actions of a RetrainPolicy: request a run now, as `kubectl modelops retrain`.
local actions = {}
local suspended = obj.spec ~= nil and obj.spec.suspend == true
actions["retrain"] = {["disabled"] = suspended, ["iconClass"] = "fa fa-fw fa-sync"}
return actions
