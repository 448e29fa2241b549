--[[ photobrain integrations install: the plug-in's preferences (kept by Lightroom per plug-in): how many
results a search brings, how far a photo must stand out to count (photobrain's cutoff: 3 by default, lower
brings more), and the last searches. ]]
local LrPrefs = import 'LrPrefs'

local Prefs = {}

Prefs.KEPT_SEARCHES = 10

function Prefs.get()
	local prefs = LrPrefs.prefsForPlugin()
	return {
		results = tonumber(prefs.results) or 100,
		cutoff = tonumber(prefs.cutoff) or 3.0,
		searches = type(prefs.searches) == 'table' and prefs.searches or {},
	}
end

--- Keep ``query`` first in the last searches (a new table: Lightroom saves a preference when it is assigned).
function Prefs.remember(query)
	local prefs = LrPrefs.prefsForPlugin()
	local kept = { query }
	for _, earlier in ipairs(type(prefs.searches) == 'table' and prefs.searches or {}) do
		if earlier ~= query and #kept < Prefs.KEPT_SEARCHES then
			kept[#kept + 1] = earlier
		end
	end
	prefs.searches = kept
end

return Prefs
