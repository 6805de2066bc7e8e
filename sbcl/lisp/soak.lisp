;;;; Stress on the real runtime: threads created and ending while others
;;;; cons, collect garbage and send interrupts, for SBCL_TEST_ARGS seconds
;;;; (default 10). Exits 104 when every thread did what it should, 1 on an
;;;; error in any thread; a fatal error of the runtime or a hang is seen by
;;;; the runner (sbcl/soak.py).
;;;;
;;;; - 2 creators: make short-lived workers (each builds a list and checks
;;;;   it), wait for them to end, again and again;
;;;; - 2 consers: build lists and check them, keeping one across GCs;
;;;; - 1 collector: SB-EXT:GC every few milliseconds;
;;;; - 1 interrupter: interrupts the consers (a function that conses and
;;;;   counts) and interrupts or terminates recent workers, whatever point
;;;;   of their life they are at.
;;;; Contents are checked, so a GC that lost track of a stopped thread's
;;;; roots shows up as a wrong sum, not only as a crash. Every thread has
;;;; its own counters and its own random state.

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *seconds*
  (test-arg 10))

(defvar *running* t)
(defvar *errors* 0)
(defvar *workers* (make-array 8 :initial-element nil))
(defvar *consers* (make-array 2 :initial-element nil))
(defvar *interrupt-runs* (vector 0 0))

(defun note-error (where e)
  (incf *errors*)
  (format t "~&soak: error in ~A: ~A~%" where e)
  (force-output))

(defun check-list (list n)
  (unless (and (= (length list) n) (= (reduce #'+ list) (/ (* n (1- n)) 2)))
    (error "list of ~D corrupted: length ~D" n (length list))))

(defun build (n)
  (let ((l (loop for i below n collect i)))
    (check-list l n)
    l))

(defmacro body ((name) &body forms)
  `(lambda ()
     (let ((*random-state* (make-random-state t)))
       (handler-case (progn ,@forms)
         (error (e) (note-error ,name e))))))

(defun worker (n)
  (body ("worker") (build n)))

(defun creator (index count)
  (body ("creator")
    (loop while *running*
          do (let ((thread (sb-thread:make-thread (worker (+ 10 (random 400))) :name "worker")))
               (setf (svref *workers* (+ index (* 2 (random 4)))) thread)
               (incf (car count))
               (wait-until-dead thread)))))

(defun conser (count)
  (body ("conser")
    (let ((keep (build 1000)))
      (loop while *running*
            do (incf (car count) (length (build (+ 100 (random 2000)))))
               (check-list keep 1000)
               (when (zerop (random 8)) (setf keep (build 1000)))))))

(defun collector (count)
  (body ("collector")
    (loop while *running*
          do (sb-ext:gc)
             (incf (car count))
             (sleep (/ (random 5) 1000.0)))))

;;; count: (interrupts terminations refused)
(defun interrupter (count)
  (body ("interrupter")
    (flet ((try (thread function)
             (handler-case (progn (sb-thread:interrupt-thread thread function) t)
               (sb-thread:interrupt-thread-error ()
                 (incf (third count))
                 nil))))
      (loop while *running*
            do (let ((i (random 2)))
                 (when (try (svref *consers* i)
                            (lambda () (incf (svref *interrupt-runs* i)) (build 50)))
                   (incf (first count))))
               (let ((w (svref *workers* (random 8))))
                 (when w
                   (if (zerop (random 3))
                       (when (try w #'sb-ext:quit) (incf (second count)))
                       (when (try w (lambda () (build 20))) (incf (first count))))))
               (sleep 0.0002)))))

(let* ((conses (list (list 0) (list 0)))
       (gcs (list 0))
       (sent (list 0 0 0))
       (workers (list (list 0) (list 0)))
       (start (get-internal-real-time))
       (threads
         (append
          (loop for i below 2
                collect (setf (svref *consers* i)
                              (sb-thread:make-thread (conser (nth i conses)) :name "conser")))
          (list (sb-thread:make-thread (collector gcs) :name "collector")
                (sb-thread:make-thread (interrupter sent) :name "interrupter"))
          (loop for i below 2
                collect (sb-thread:make-thread (creator i (nth i workers)) :name "creator")))))
  ;; A deadline, not one SLEEP: stop signals interrupt a sleep, and
  ;; 0.9.4.1's SLEEP does not always account for the time already slept.
  (loop with deadline = (+ start (* 1000 *seconds*))
        while (< (get-internal-real-time) deadline)
        do (sleep 0.05))
  (setf *running* nil)
  (mapc #'wait-until-dead threads)
  (format t "~&soak: ~,1F s: ~D workers, ~D conses checked, ~D GCs, ~D interrupts and ~D terminations ~
             accepted (~D refused: thread finished), ~D interrupts ran in the consers, ~D error(s)~%"
          (/ (- (get-internal-real-time) start) 1000.0)
          (reduce #'+ (mapcar #'car workers)) (reduce #'+ (mapcar #'car conses)) (car gcs)
          (first sent) (second sent) (third sent) (reduce #'+ *interrupt-runs*) *errors*)
  ;; libsbthread only: stops that found a thread asleep with its stop
  ;; deferred and backed off, and sleepers counted as stopped because the
  ;; stopper held their lock (stop_backoffs and stop_adoptions of struct sbthread_stats).
  (let ((words (sbthread-stat-words :stop-backoffs :stop-adoptions)))
    (when words
      (format t "~&soak: stops that backed off: ~D~%" (first words))
      (format t "~&soak: sleepers counted as stopped: ~D~%" (second words))))
  (sb-ext:quit :unix-status (if (zerop *errors*) 104 1)))
