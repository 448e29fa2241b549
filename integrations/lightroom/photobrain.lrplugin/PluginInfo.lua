--[[ photobrain integrations install: the plug-in's section in File > Plug-in Manager: which photobrain and
catalog it asks, and the two search settings (results per search; the cutoff: how far a photo must stand out
from the library to count, 3 by default, lower brings more). ]]
local LrPrefs = import 'LrPrefs'
local LrView = import 'LrView'

local Prefs = require 'PhotobrainPrefs'
local Service = require 'PhotobrainService'

return {
	sectionsForTopOfDialog = function(f, properties)
		local prefs = LrPrefs.prefsForPlugin()
		local values = Prefs.get()
		prefs.results, prefs.cutoff = values.results, values.cutoff
		local settings, problem = Service.settings()
		local where = settings and ('photobrain: ' .. table.concat(settings.program, ' ') .. '\nCatalog: '
			.. settings.catalog) or problem
		return {
			{
				title = 'photobrain',
				synopsis = settings and 'Set up' or 'Not set up',
				f:static_text { title = where, fill_horizontal = 1 },
				f:row {
					f:static_text { title = 'Photos per search or Find similar:', width_in_chars = 36 },
					f:edit_field { value = LrView.bind { key = 'results', object = prefs }, min = 1, max = 1000,
						precision = 0, width_in_digits = 5 },
				},
				f:row {
					f:static_text { title = 'Cutoff (how far a photo must stand out; lower brings more):',
						width_in_chars = 36 },
					f:edit_field { value = LrView.bind { key = 'cutoff', object = prefs }, min = -10, max = 10,
						precision = 1, width_in_digits = 5 },
				},
			},
		}
	end,
}
