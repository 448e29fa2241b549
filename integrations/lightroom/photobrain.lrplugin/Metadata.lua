--[[ photobrain integrations install: the plug-in's one field per photo, hidden (no title): the AI keywords it
gave the photo on its last run, one "AI/animal/dog" path per line. A keyword in that list the photo no longer
has was removed by the user: the next run tells photobrain, which never gives it back. ]]
return {
	metadataFieldsForPhotos = {
		{ id = 'aiKeywords', dataType = 'string' },
	},
	schemaVersion = 1,
}
