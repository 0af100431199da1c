-- Argo CD actions of a ModelDeployment: the same spec.rollout requests as `kubectl modelops <verb>`.
local actions = {}
local status = obj.status or {}
local rollout = (obj.spec or {}).rollout or {}
local phase = status.phase
local rolling = phase == "Progressing" or phase == "Paused" or phase == "Promoting"
local paused = rollout.paused == true or phase == "Paused"
actions["promote"] = {["disabled"] = not rolling or phase == "Promoting", ["iconClass"] = "fa fa-fw fa-forward"}
actions["abort"] = {["disabled"] = not rolling, ["iconClass"] = "fa fa-fw fa-times-circle"}
actions["pause"] = {["disabled"] = not rolling or paused, ["iconClass"] = "fa fa-fw fa-pause-circle"}
actions["resume"] = {["disabled"] = not paused, ["iconClass"] = "fa fa-fw fa-play-circle"}
actions["retry"] = {["disabled"] = phase ~= "RolledBack" or status.blockedVersion == nil, ["iconClass"] = "fa fa-fw fa-redo"}
return actions
