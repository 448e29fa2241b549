--[[ photobrain's Lightroom Classic plug-in: Find similar photos, Search photos..., Tag selected photos and
Remove AI keywords under Library > Plug-in Extras. It talks to photobrain's service on this computer
(127.0.0.1 only); nothing leaves the machine. See README.md beside this folder.

Written for photobrain integrations install: Lightroom reads this file in a restricted environment (no
import, no require), so it is one table and nothing else. ]]
return {
	LrSdkVersion = 6.0,
	LrSdkMinimumVersion = 6.0,
	LrToolkitIdentifier = 'org.photobrain.lightroom',
	LrPluginName = LOC '$$$/photobrain/PluginName=photobrain',
	LrLibraryMenuItems = {
		{ title = LOC '$$$/photobrain/FindSimilar=Find similar photos', file = 'FindSimilar.lua',
		  enabledWhen = 'photosSelected' },
		{ title = LOC '$$$/photobrain/Search=Search photos...', file = 'SearchPhotos.lua' },
		{ title = LOC '$$$/photobrain/Tag=Tag selected photos', file = 'TagPhotos.lua',
		  enabledWhen = 'photosSelected' },
		{ title = LOC '$$$/photobrain/Remove=Remove AI keywords', file = 'RemoveKeywords.lua',
		  enabledWhen = 'photosSelected' },
	},
	LrMetadataProvider = 'Metadata.lua',
	LrPluginInfoProvider = 'PluginInfo.lua',
	VERSION = { major = 0, minor = 1, revision = 0 },
}
