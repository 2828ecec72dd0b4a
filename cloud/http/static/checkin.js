// Fills the check-in and check-out forms' position from the phone's GPS.
// Served as a file ('self' in the pages' Content-Security-Policy), not
// inline, which the policy blocks. A page that holds both forms loads it
// twice; the second run finds the work done.
(function () {
  if (window.frostlineGeo || !navigator.geolocation) return;
  var forms = [['checkin-form', 'lat', 'lon', 'where'], ['checkout-form', 'out-lat', 'out-lon', 'out-where']].filter(function (f) {
    return document.getElementById(f[0]);
  });
  if (!forms.length) return;
  window.frostlineGeo = true;
  navigator.geolocation.getCurrentPosition(function (p) {
    forms.forEach(function (f) {
      document.getElementById(f[1]).value = p.coords.latitude;
      document.getElementById(f[2]).value = p.coords.longitude;
      document.getElementById(f[3]).textContent = 'Position: ' + p.coords.latitude.toFixed(5) + ', ' +
        p.coords.longitude.toFixed(5) + ' (±' + Math.round(p.coords.accuracy) + ' m)';
    });
  }, function () {}, { enableHighAccuracy: true, timeout: 10000 });
})();
