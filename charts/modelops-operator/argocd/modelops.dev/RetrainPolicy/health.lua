-- Argo CD health of a RetrainPolicy (modelops.dev/v1alpha1).
-- condition() and said() repeat in each kind's script: Argo CD runs every script alone (no require).
local hs = {}
local function condition(conditions, kind)
  if conditions == nil then return nil end
  for _, c in ipairs(conditions) do
    if c.type == kind then return c end
  end
  return nil
end
local function said(text, fallback)
  if text ~= nil and text ~= "" then return text end
  return fallback
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelops operator to see this RetrainPolicy"
  return hs
end
if obj.metadata.generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelops operator to act on the latest spec"
  return hs
end
local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = said(stalled.message, "Stalled: needs a person")
  return hs
end
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended: triggers are recorded as skipped"
  return hs
end
local last = status.lastRun
if last ~= nil and last.outcome == "Running" then
  hs.status = "Progressing"
  hs.message = "Retraining: run " .. last.name .. " (" .. last.trigger .. ")"
  return hs
end
if last ~= nil and last.outcome == "Failed" then
  hs.status = "Degraded"
  hs.message = "Run " .. last.name .. " failed: " .. said(last.reason, "see kubectl modelops status")
  return hs
end
hs.status = "Healthy"
if last ~= nil then
  hs.message = "Last run " .. last.name .. ": " .. last.outcome
else
  hs.message = "No run yet"
end
return hs
